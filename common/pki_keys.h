/* pki_keys.h — one place that opens a signing key: a PEM file (PKCS#8,
 * plain or encrypted) or an RFC 7512 `pkcs11:` URI on a token reached
 * through the libp11 PKCS#11 engine. A token key never leaves the token:
 * what comes back is an EVP_PKEY whose signatures the token makes, and it
 * signs through every OpenSSL API (X509_sign, X509_CRL_sign,
 * OCSP_basic_sign, EVP_PKEY_sign, an SSL_CTX) like a file key. */
#ifndef PROVCA_PKI_KEYS_H
#define PROVCA_PKI_KEYS_H

#include <stddef.h>

#include <openssl/evp.h>

/* Longest key reference (file path or pkcs11: URI), PIN and passphrase. */
#define PKI_KEY_REF_MAX 512
#define PKI_PIN_MAX 256

/* How a token is reached. module: the PKCS#11 module (.so); the PIN comes
 * from pin_file (first line) or the environment variable pin_env — never
 * from a command line or the URI itself. Empty strings: not set. */
typedef struct {
	char module[256];
	char pin_file[256];
	char pin_env[64];
} pki_token_t;

/* Custody of a key reference, for logs: "pkcs11" for a URI, else
 * "file-encrypted" or "file-plain" from the file's PEM label. */
typedef enum {
	PKI_CUSTODY_FILE_PLAIN,
	PKI_CUSTODY_FILE_ENCRYPTED,
	PKI_CUSTODY_PKCS11,
	PKI_CUSTODY_MISSING /* a file reference whose file is absent */
} pki_custody_t;

/* 1 if ref names a token key ("pkcs11:..."). */
int pki_key_ref_is_pkcs11(const char *ref);

/* Open a signing key. ref: a pkcs11: URI (tok required; a URI carrying
 * pin-value or pin-source is refused) or a file path, relative paths taken
 * from dir (may be NULL). pass decrypts an encrypted file ("" or NULL:
 * none). PKI_ERR_IO: file missing/unreadable; PKI_ERR_PARSE: not a key, or
 * encrypted and no or a wrong passphrase (err says which); PKI_ERR_ARG: a
 * bad URI or token set-up; PKI_ERR_INTERNAL: the token failed. */
int pki_signing_key_open(EVP_PKEY **out, const char *ref, const char *dir,
    const char *pass, const pki_token_t *tok, char *err, size_t errlen);

/* Custody of ref (relative to dir) without opening the key. */
pki_custody_t pki_key_custody(const char *ref, const char *dir);

/* A short name for a custody value ("file-plain", ...). */
const char *pki_custody_name(pki_custody_t c);

/* Release the PKCS#11 engine (C_Finalize) before the process exits. Call
 * once at the end of main after every token key is freed; OpenSSL must
 * have been initialised with OPENSSL_INIT_NO_ATEXIT (pki_keys_init) so no
 * exit handler touches a module whose destructors already ran. */
void pki_keys_shutdown(void);

/* Initialise OpenSSL without its exit-time cleanup; call first in main. */
void pki_keys_init(void);

#endif
