/* suci_keys.c — corehook's SUCI home network keys: one PEM private key file
 * per key id (keys_dir/hn-<id>.pem, 0600, created exclusively by
 * `corehook suci keygen`), loaded at start; the public half of the
 * configured key goes into every new subscription; a concealed SUCI is
 * opened with the key its key id names (common/suci.c). */
#include "ch_ctx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "suci.h"
#include "util.h"

int ch_suci_key_path(char *out, size_t cap, const corehook_config *cfg,
    unsigned key_id)
{
	int n = snprintf(out, cap, "%s/hn-%u.pem", cfg->suci_keys_dir, key_id);

	return n > 0 && (size_t)n < cap ? 0 : -1;
}

int ch_suci_keygen(const corehook_config *cfg, char *err, size_t errlen)
{
	char path[CH_PATH_MAX + 32];
	EVP_PKEY *k = NULL;
	FILE *fp = NULL;
	int fd = -1, rc = COREHOOK_ERR;

	if (cfg->suci_scheme == 0) {
		util_err_set(err, errlen, "suci.profile is not configured");
		return COREHOOK_ERR_CONFIG;
	}
	if (ch_suci_key_path(path, sizeof(path), cfg, cfg->suci_key_id) != 0 ||
	    (mkdir(cfg->suci_keys_dir, 0700) != 0 && errno != EEXIST)) {
		util_err_set(err, errlen, "%s: %s", cfg->suci_keys_dir,
		    strerror(errno));
		return COREHOOK_ERR;
	}
	k = cfg->suci_scheme == SUCI_SCHEME_PROFILE_A ?
	    EVP_PKEY_Q_keygen(NULL, NULL, "X25519") :
	    EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (k == NULL) {
		util_err_openssl(err, errlen, "key generation failed");
		goto out;
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0 ||
	    (fp = fdopen(fd, "w")) == NULL) {
		util_err_set(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
	if (PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL) != 1 ||
	    fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
		util_err_openssl(err, errlen, "%s: write failed", path);
		unlink(path);
		goto out;
	}
	rc = COREHOOK_OK;
out:
	if (fp != NULL)
		fclose(fp);
	if (fd >= 0)
		close(fd);
	EVP_PKEY_free(k);
	return rc;
}

/* Load key file path (refused if group or others may read it) as whichever
 * profile's key it is; *scheme gets the profile. */
static int key_load(EVP_PKEY **out, uint8_t *scheme, const char *path,
    char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) != 0 || (st.st_mode & 077) != 0) {
		util_err_set(err, errlen,
		    "%s: missing, or readable by others "
		    "(must be 0600)",
		    path);
		return COREHOOK_ERR_CONFIG;
	}
	*scheme = SUCI_SCHEME_PROFILE_A;
	if (suci_hn_key_load(out, SUCI_SCHEME_PROFILE_A, path, err, errlen) ==
	    SUCI_OK)
		return COREHOOK_OK;
	*scheme = SUCI_SCHEME_PROFILE_B;
	if (suci_hn_key_load(out, SUCI_SCHEME_PROFILE_B, path, err, errlen) ==
	    SUCI_OK)
		return COREHOOK_OK;
	return COREHOOK_ERR_CONFIG;
}

int ch_suci_open(corehook *ch, char *err, size_t errlen)
{
	const corehook_config *c = ch->cfg;
	char path[CH_PATH_MAX + 32];
	unsigned id;
	size_t n = 0;
	int rc;

	if (c->suci_scheme == 0)
		return COREHOOK_OK;
	/* the configured key must exist; older key ids are optional */
	for (id = 0; id < 256 && n < CH_SUCI_KEYS_MAX; id++) {
		if (ch_suci_key_path(path, sizeof(path), c, id) != 0)
			return COREHOOK_ERR_CONFIG;
		if (id != c->suci_key_id && access(path, F_OK) != 0)
			continue;
		if ((rc = key_load(&ch->suci_key[id], &ch->suci_key_scheme[id],
		         path, err, errlen)) != COREHOOK_OK)
			return rc;
		n++;
	}
	if (ch->suci_key_scheme[c->suci_key_id] != c->suci_scheme) {
		util_err_set(err, errlen, "%s is not a Profile %c key", path,
		    c->suci_scheme == 1 ? 'A' : 'B');
		return COREHOOK_ERR_CONFIG;
	}
	if (suci_hn_pub_get(ch->suci_pub, sizeof(ch->suci_pub),
	        &ch->suci_pub_len, ch->suci_key[c->suci_key_id], err,
	        errlen) != SUCI_OK)
		return COREHOOK_ERR_CONFIG;
	return COREHOOK_OK;
}

void ch_suci_close(corehook *ch)
{
	unsigned id;

	for (id = 0; id < 256; id++) {
		EVP_PKEY_free(ch->suci_key[id]);
		ch->suci_key[id] = NULL;
	}
}

void ch_suci_sub_fill(const corehook *ch, prov_subscription_t *sub)
{
	const corehook_config *c = ch->cfg;

	if (c->suci_scheme == 0 || ch->suci_pub_len > sizeof(sub->hn_pub))
		return;
	sub->hn_scheme = c->suci_scheme;
	sub->hn_key_id = c->suci_key_id;
	snprintf(sub->routing, sizeof(sub->routing), "%s", c->suci_routing);
	memcpy(sub->hn_pub, ch->suci_pub, ch->suci_pub_len);
	sub->hn_pub_len = ch->suci_pub_len;
}

int ch_suci_supi(const corehook *ch, char *supi, size_t cap,
    const nas_suci_t *s, char *err, size_t errlen)
{
	char msin[SUCI_MSIN_MAX + 1];
	int rc;

	if (s->scheme == SUCI_SCHEME_NULL) {
		if (!ch->cfg->suci_null_allowed) {
			util_err_set(err, errlen,
			    "null-scheme SUCI refused "
			    "(suci.null_scheme is false)");
			return COREHOOK_ERR_ARG;
		}
		return nas_supi_from_suci(supi, cap, s) == NAS_OK ?
		    COREHOOK_OK :
		    COREHOOK_ERR_ARG;
	}
	if (ch->suci_key[s->hnpki] == NULL ||
	    ch->suci_key_scheme[s->hnpki] != s->scheme) {
		util_err_set(err, errlen, "no Profile %c key with id %u",
		    s->scheme == 1 ? 'A' : 'B', s->hnpki);
		return COREHOOK_ERR_NOTFOUND;
	}
	rc = suci_scheme_deconceal(msin, sizeof(msin), s->scheme,
	    ch->suci_key[s->hnpki], s->out, s->out_len, err, errlen);
	if (rc != SUCI_OK)
		return COREHOOK_ERR_ARG;
	rc = snprintf(supi, cap, "imsi-%s%s%s", s->mcc, s->mnc, msin);
	OPENSSL_cleanse(msin, sizeof(msin));
	return rc > 0 && (size_t)rc < cap ? COREHOOK_OK : COREHOOK_ERR_ARG;
}
