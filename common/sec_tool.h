/* sec_tool.h — the checking tools over nas_sec.h and suci.h that the
 * programs expose: `corehook nas-sec nia2|nea2|kdf`, `ueclient suci
 * conceal` and `corehook suci deconceal`. Each prints one "NAME: value"
 * line to fp. argv[0] is the first word after the command's name (for
 * nas-sec: "nia2", "nea2" or "kdf"). */
#ifndef PROVCA_SEC_TOOL_H
#define PROVCA_SEC_TOOL_H

#include <stdio.h>

enum {
	SEC_TOOL_OK = 0,
	SEC_TOOL_USAGE = -1, /* bad input: the program exits 2 */
	SEC_TOOL_FAIL = -2,  /* a valid input that failed: exit 1 */
};

/* nia2 --key HEX --count HEX --bearer N --direction 0|1 --length BITS
 * --msg HEX → "MAC: ..."; nea2 (same options) → "OUT: ..."; kdf --kamf HEX
 * --alg-type 1|2 --alg-id N → "KEY: ...". */
int sec_tool_nas(FILE *fp, int argc, char **argv, char *err, size_t errlen);

/* --supi imsi-... --mnc-digits 2|3 --profile A|B --hn-pub HEX --hn-key-id N
 * [--routing-indicator DIGITS] [--eph-key HEX] → "SUCI: suci-0-...". */
int sec_tool_suci_conceal(FILE *fp, int argc, char **argv, char *err,
    size_t errlen);

/* --suci STRING --hn-key FILE_OR_HEX → "SUPI: imsi-...". A bad tag is
 * SEC_TOOL_FAIL. */
int sec_tool_suci_deconceal(FILE *fp, int argc, char **argv, char *err,
    size_t errlen);

#endif
