/* serve.h — `corehook serve`: the daemon around the library (NAS over UDP
 * with a worker pool, the HTTP JSON endpoint, metrics, SIGTERM). */
#ifndef PROVCA_COREHOOK_SERVE_H
#define PROVCA_COREHOOK_SERVE_H

#include <stddef.h>

#include "corehook.h"

/* Run until SIGTERM/SIGINT; prints the bound "nas udp" and "http" lines to
 * stdout. pcap_path may be NULL. Returns 0 after a clean stop. */
int serve_run(const corehook_config *cfg, const char *pcap_path, char *err,
    size_t errlen);

#endif
