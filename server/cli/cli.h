/* cli.h — ca-server's admin subcommands. Each takes argv starting at the
 * subcommand's name and returns the exit status: 0 ok, 1 failed, 2 usage.
 * These are a program's front end: they print (one line per error). */
#ifndef PROVCA_CLI_H
#define PROVCA_CLI_H

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

int cli_init(int argc, char **argv);
int cli_manufacturer(int argc, char **argv);
int cli_cmp_secret(int argc, char **argv);
int cli_enroll(int argc, char **argv);
int cli_show(int argc, char **argv);
int cli_list(int argc, char **argv);
int cli_revoke(int argc, char **argv);
int cli_suspend(int argc, char **argv);
int cli_reinstate(int argc, char **argv);
int cli_crl(int argc, char **argv);
int cli_principal(int argc, char **argv);
int cli_signer(int argc, char **argv);
int cli_backup(int argc, char **argv);
int cli_audit(int argc, char **argv);
/* cli_root.c: the offline Root's ceremonies. */
int cli_root(int argc, char **argv);
int cli_config(int argc, char **argv);
/* cli_user.c, built with the HTTP service: `user add`. */
int cli_user(int argc, char **argv);
/* cli_ca.c: the CA set (rollover): list, add, activate, retire. */
int cli_ca(int argc, char **argv);

#endif
