/* test_reg_group.c — db/reg_group.c, the registry's group commit: items
 * queued by concurrent threads are written in fewer groups than items, on
 * the group's own writer connection, each returned only after its group's
 * COMMIT; a writer connection that cannot be opened hands the group to the
 * caller's connection; a path that does not fit is refused. */
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "reg.h"
#include "reg_group.h"

#define THREADS 16

struct job {
	reg_group_item_t gi; /* first: the job is its item */
	int n;               /* manufacturer "m<n>" to insert */
	reg_t *own;          /* the caller's connection */
	reg_t *wrote_on;     /* the connection that wrote it */
	int group;           /* which group (1, 2, ...) */
	int committed;       /* its group's COMMIT returned REG_OK */
};

struct fixture {
	char dir[64], path[128];
	reg_group_t *g;
	pthread_mutex_t mu;
	int groups; /* write callbacks run */
};

static struct fixture fx;

/* reg_group_write_fn: every job of list as a manufacturer row, one
 * transaction; slow enough that the other threads queue meanwhile. */
static void write_jobs(reg_t *reg, reg_group_item_t *list, void *arg)
{
	struct fixture *f = arg;
	reg_group_item_t *it;
	reg_manufacturer_t m;
	char err[256];
	int group, ok;

	pthread_mutex_lock(&f->mu);
	group = ++f->groups;
	pthread_mutex_unlock(&f->mu);
	ok = reg_begin(reg, err, sizeof(err)) == REG_OK;
	for (it = list; ok && it != NULL; it = it->next) {
		struct job *j = (struct job *)it;

		memset(&m, 0, sizeof(m));
		snprintf(m.id, sizeof(m.id), "m%d", j->n);
		snprintf(m.name, sizeof(m.name), "maker %d", j->n);
		ok = reg_manufacturer_insert(reg, &m, err, sizeof(err)) ==
		    REG_OK;
		j->wrote_on = reg;
		j->group = group;
	}
	usleep(20000);
	ok = ok && reg_commit(reg, err, sizeof(err)) == REG_OK;
	if (!ok)
		reg_rollback(reg);
	for (it = list; it != NULL; it = it->next)
		((struct job *)it)->committed = ok;
}

static int setup(void **state)
{
	reg_t *reg = NULL;
	char err[256];

	(void)state;
	memset(&fx, 0, sizeof(fx));
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/provca-group-XXXXXX");
	if (mkdtemp(fx.dir) == NULL)
		return -1;
	snprintf(fx.path, sizeof(fx.path), "%s/registry.db", fx.dir);
	if (reg_open(&reg, fx.path, err, sizeof(err)) != REG_OK)
		return -1;
	reg_close(reg);
	return pthread_mutex_init(&fx.mu, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	static const char *suffix[] = { "", "-wal", "-shm" };
	char p[160];
	size_t i;

	(void)state;
	reg_group_free(fx.g);
	fx.g = NULL;
	for (i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", fx.path, suffix[i]);
		unlink(p);
	}
	rmdir(fx.dir);
	pthread_mutex_destroy(&fx.mu);
	return 0;
}

static void *commit_one(void *arg)
{
	struct job *j = arg;

	reg_group_commit(fx.g, j->own, &j->gi);
	return NULL;
}

static void group__concurrent_items_share_groups_on_the_writer(void **state)
{
	struct job jobs[THREADS];
	pthread_t th[THREADS];
	reg_manufacturer_t m;
	reg_t *check = NULL;
	char err[256], id[16];
	int i;

	(void)state;
	assert_int_equal(reg_group_new(&fx.g, fx.path, write_jobs, &fx, err,
	                     sizeof(err)),
	    REG_OK);
	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < THREADS; i++) {
		jobs[i].n = i;
		assert_int_equal(reg_open_existing(&jobs[i].own, fx.path, err,
		                     sizeof(err)),
		    REG_OK);
	}
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, commit_one,
		                     &jobs[i]),
		    0);
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < THREADS; i++) {
		assert_int_equal(jobs[i].gi.done, 1);
		assert_int_equal(jobs[i].committed, 1);
		/* Written on the group's connection, never the caller's. */
		assert_ptr_not_equal(jobs[i].wrote_on, jobs[i].own);
		assert_ptr_equal(jobs[i].wrote_on, jobs[0].wrote_on);
		reg_close(jobs[i].own);
	}
	/* One fsync served several: fewer groups than items. */
	assert_true(fx.groups >= 1 && fx.groups < THREADS);
	assert_int_equal(reg_open_existing(&check, fx.path, err, sizeof(err)),
	    REG_OK);
	for (i = 0; i < THREADS; i++) {
		snprintf(id, sizeof(id), "m%d", i);
		assert_int_equal(reg_manufacturer_get(check, &m, id, err,
		                     sizeof(err)),
		    REG_OK);
	}
	reg_close(check);
}

static void group__unopenable_writer_falls_back_to_the_caller(void **state)
{
	reg_manufacturer_t m;
	struct job j;
	char err[256], missing[160];

	(void)state;
	/* The writer opens an existing registry only: this one is not. */
	snprintf(missing, sizeof(missing), "%s/missing.db", fx.dir);
	assert_int_equal(reg_group_new(&fx.g, missing, write_jobs, &fx, err,
	                     sizeof(err)),
	    REG_OK);
	memset(&j, 0, sizeof(j));
	j.n = 99;
	assert_int_equal(reg_open_existing(&j.own, fx.path, err, sizeof(err)),
	    REG_OK);
	reg_group_commit(fx.g, j.own, &j.gi);
	assert_int_equal(j.gi.done, 1);
	assert_int_equal(j.committed, 1);
	assert_ptr_equal(j.wrote_on, j.own);
	assert_int_equal(reg_manufacturer_get(j.own, &m, "m99", err,
	                     sizeof(err)),
	    REG_OK);
	assert_int_equal(access(missing, F_OK), -1);
	reg_close(j.own);
}

static void group__path_too_long_is_refused(void **state)
{
	char path[PATH_MAX + 16], err[256];
	reg_group_t *g = (reg_group_t *)1;

	(void)state;
	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(reg_group_new(&g, path, write_jobs, &fx, err,
	                     sizeof(err)),
	    REG_ERR_INVALID);
	assert_null(g);
	assert_string_equal(err, "registry path too long");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    group__concurrent_items_share_groups_on_the_writer, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    group__unopenable_writer_falls_back_to_the_caller, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(group__path_too_long_is_refused,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
