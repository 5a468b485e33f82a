/* ch_ctx.c — the services of the corehook context every other file uses,
 * at the bottom of the folder's layering (it calls no other corehook
 * file): the log line through the context's callback and the pool of
 * subscriber store connections (opened and closed by corehook.c, the
 * context's owner). */
#include "ch_ctx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

/* One log line through the context's callback (none: dropped). */
void ch_log(corehook *ch, int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (ch->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ch->log(ch->logarg, level, line);
}

/* The pool and the group commit; the store opened once (migrations). */
int ch_db_pool_open(corehook *ch, char *err, size_t errlen)
{
	subs_db *db = NULL;

	pthread_mutex_init(&ch->dbmu, NULL);
	pthread_cond_init(&ch->dbcv, NULL);
	ch->db_ready = 1;
	ch->ndbmax = (size_t)ch->cfg->workers + 16;
	if ((ch->dbfree = calloc(ch->ndbmax, sizeof(*ch->dbfree))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return COREHOOK_ERR;
	}
	if (subs_group_new(&ch->group) != SUBS_OK) {
		util_err_set(err, errlen, "out of memory");
		return COREHOOK_ERR;
	}
	/* Open the store once now: migrations run here, errors surface here. */
	if (subs_open(&db, ch->cfg->db_path, err, errlen) != SUBS_OK)
		return COREHOOK_ERR;
	ch->dbfree[ch->ndbfree++] = db;
	ch->ndb = 1;
	return COREHOOK_OK;
}

/* Every pooled connection closed; safe after a failed or no open. */
void ch_db_pool_close(corehook *ch)
{
	size_t i;

	if (!ch->db_ready)
		return;
	for (i = 0; i < ch->ndbfree; i++)
		subs_close(ch->dbfree[i]);
	free(ch->dbfree);
	ch->dbfree = NULL;
	ch->ndbfree = ch->ndb = 0;
	subs_group_free(ch->group);
	ch->group = NULL;
	pthread_mutex_destroy(&ch->dbmu);
	pthread_cond_destroy(&ch->dbcv);
	ch->db_ready = 0;
}

/* Borrow a store connection, opening one while the pool may grow. */
int ch_db_get(corehook *ch, subs_db **out, char *err, size_t errlen)
{
	int rc = COREHOOK_OK;

	pthread_mutex_lock(&ch->dbmu);
	while (ch->ndbfree == 0 && ch->ndb >= ch->ndbmax)
		pthread_cond_wait(&ch->dbcv, &ch->dbmu);
	if (ch->ndbfree > 0) {
		*out = ch->dbfree[--ch->ndbfree];
		pthread_mutex_unlock(&ch->dbmu);
		return COREHOOK_OK;
	}
	ch->ndb++;
	pthread_mutex_unlock(&ch->dbmu);
	if (subs_open(out, ch->cfg->db_path, err, errlen) != SUBS_OK) {
		pthread_mutex_lock(&ch->dbmu);
		ch->ndb--;
		pthread_cond_signal(&ch->dbcv);
		pthread_mutex_unlock(&ch->dbmu);
		rc = COREHOOK_ERR;
	}
	return rc;
}

/* Give a borrowed connection back (NULL: nothing). */
void ch_db_put(corehook *ch, subs_db *db)
{
	if (db == NULL)
		return;
	pthread_mutex_lock(&ch->dbmu);
	ch->dbfree[ch->ndbfree++] = db;
	pthread_cond_signal(&ch->dbcv);
	pthread_mutex_unlock(&ch->dbmu);
}
