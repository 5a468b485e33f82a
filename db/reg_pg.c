/* reg_pg.c — what names a PostgreSQL registry: a postgresql:// or
 * postgres:// URL (libpq's connection URI). */
#include "reg_pg.h"

#include <string.h>

int reg_pg_is_url(const char *s)
{
	return s != NULL &&
	    (strncmp(s, "postgresql://", 13) == 0 ||
	        strncmp(s, "postgres://", 11) == 0);
}
