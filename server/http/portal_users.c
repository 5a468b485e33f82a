/* portal_users.c — administrators manage portal users over the API (list,
 * create, reset password, disable, enable); `ca-server user add`
 * (server/cli/cli_user.c) makes the first one. Every change is audited. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "ca.h"
#include "http_int.h"
#include "portal.h"
#include "portal_http.h"

/* The request's registry connection, or NULL. */
static reg_t *req_db(http_req_t *req)
{
	return http_req_reg(req);
}

static int reply_store_error(http_req_t *req, int rc, const char *err)
{
	switch (rc) {
	case PORTAL_E_ARG:
		return http_reply_problem(req, 400, PT_INVALID, "Invalid user",
		    err);
	case PORTAL_E_CONFLICT:
		return http_reply_problem(req, 409, PT_CONFLICT,
		    "User name taken", err);
	case PORTAL_E_NOTFOUND:
		return http_reply_problem(req, 404, PT_NOT_FOUND,
		    "No such user", err);
	default:
		http_count_db_error(req);
		return http_reply_problem(req, 503, PT_UNAVAILABLE,
		    "Service unavailable",
		    "the user store could not be written");
	}
}

static void audit(http_req_t *req, const char *action, const char *target,
    const char *details)
{
	reg_t *reg = http_req_reg(req);
	char err[256];

	if (reg == NULL ||
	    reg_audit_append(reg, req->principal.name, action, target, details,
	        err, sizeof(err)) != REG_OK)
		http_count_db_error(req);
}

static int add_user_json(const portal_user_t *u, void *arg)
{
	cJSON *o = portal_user_json(u);

	if (o == NULL)
		return PORTAL_E_NOMEM;
	cJSON_AddItemToArray(arg, o);
	return 0;
}

int route_portal_users_list(http_req_t *req)
{
	cJSON *doc = cJSON_CreateObject(), *arr;
	reg_t *db = req_db(req);
	char err[256];
	int rc, status;

	arr = doc != NULL ? cJSON_AddArrayToObject(doc, "users") : NULL;
	if (arr == NULL) {
		cJSON_Delete(doc);
		return http_reply_problem(req, 500, PT_INTERNAL,
		    "Internal error", "out of memory");
	}
	rc = db != NULL ?
	    portal_user_list(db, add_user_json, arr, err, sizeof(err)) :
	    PORTAL_E_DB;
	if (rc != PORTAL_OK) {
		cJSON_Delete(doc);
		return reply_store_error(req, rc, err);
	}
	status = http_reply_json(req, 200, doc);
	cJSON_Delete(doc);
	return status;
}

static const char *json_str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Wipe the "password" member of a request body before it is freed. */
static void wipe_password(cJSON *body)
{
	cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "password");

	if (cJSON_IsString(p))
		OPENSSL_cleanse(p->valuestring, strlen(p->valuestring));
}

int route_portal_users_create(http_req_t *req)
{
	cJSON *body = http_json_body(req), *out = NULL;
	const char *name, *role_s, *mfr, *pw;
	portal_role_t role;
	portal_user_t u;
	reg_manufacturer_t m;
	reg_t *db;
	char err[256], details[160];
	int64_t id;
	int rc, status;

	if (body == NULL)
		return req->status;
	name = json_str(body, "name");
	role_s = json_str(body, "role");
	mfr = json_str(body, "manufacturer_id");
	pw = json_str(body, "password");
	if (name == NULL || role_s == NULL || pw == NULL ||
	    portal_role_parse(&role, role_s) != PORTAL_OK) {
		status = http_reply_problem(req, 400, PT_INVALID,
		    "Invalid user",
		    "send name, role (admin or manufacturer), password and, for "
		    "a manufacturer, manufacturer_id");
		goto out;
	}
	db = req_db(req);
	if (db == NULL) {
		status = reply_store_error(req, PORTAL_E_DB, "");
		goto out;
	}
	if (role == PORTAL_ROLE_MANUFACTURER && mfr != NULL &&
	    strlen(mfr) <= REG_MFR_ID_MAX &&
	    reg_manufacturer_get(http_req_reg(req), &m, mfr, err,
	        sizeof(err)) == REG_ERR_NOT_FOUND) {
		status = http_reply_problem(req, 400, PT_INVALID,
		    "Unknown manufacturer", "no manufacturer has this ID");
		goto out;
	}
	rc = portal_user_add(&id, db, name, role, mfr, pw, strlen(pw),
	    reg_now(), err, sizeof(err));
	if (rc == PORTAL_OK)
		rc = portal_user_get(&u, db, id, err, sizeof(err));
	if (rc != PORTAL_OK) {
		status = reply_store_error(req, rc, err);
		goto out;
	}
	snprintf(details, sizeof(details), "{\"role\":\"%s\"}",
	    portal_role_name(role));
	audit(req, "user.create", u.name, details);
	out = portal_user_json(&u);
	status = out != NULL ? http_reply_json(req, 201, out) :
	                       http_reply_problem(req, 500, PT_INTERNAL,
	                           "Internal error", "out of memory");
out:
	wipe_password(body);
	cJSON_Delete(body);
	cJSON_Delete(out);
	return status;
}

/* The user named by the route's {name}; replies 404/503 itself. */
static int named_user(portal_user_t *u, http_req_t *req, reg_t **db)
{
	char err[256];
	int rc;

	*db = req_db(req);
	if (*db == NULL)
		return reply_store_error(req, PORTAL_E_DB, "");
	rc = portal_user_find(u, *db, req->params[0], err, sizeof(err));
	if (rc != PORTAL_OK)
		return reply_store_error(req, rc,
		    "no portal user has this name");
	return 0;
}

static int reply_user(http_req_t *req, reg_t *db, int64_t id)
{
	portal_user_t u;
	cJSON *o;
	char err[256];
	int rc, status;

	rc = portal_user_get(&u, db, id, err, sizeof(err));
	if (rc != PORTAL_OK)
		return reply_store_error(req, rc, err);
	o = portal_user_json(&u);
	if (o == NULL)
		return http_reply_problem(req, 500, PT_INTERNAL,
		    "Internal error", "out of memory");
	status = http_reply_json(req, 200, o);
	cJSON_Delete(o);
	return status;
}

int route_portal_user_password(http_req_t *req)
{
	cJSON *body = http_json_body(req);
	portal_user_t u;
	const char *pw;
	reg_t *db;
	char err[256];
	int rc, status;

	if (body == NULL)
		return req->status;
	pw = json_str(body, "password");
	if (pw == NULL) {
		status = http_reply_problem(req, 400, PT_INVALID,
		    "Password required", "send {\"password\": ...}");
		goto out;
	}
	status = named_user(&u, req, &db);
	if (status != 0)
		goto out;
	rc = portal_user_set_password(db, u.id, pw, strlen(pw), reg_now(), err,
	    sizeof(err));
	if (rc != PORTAL_OK) {
		status = reply_store_error(req, rc, err);
		goto out;
	}
	audit(req, "user.password_reset", u.name, NULL);
	status = reply_user(req, db, u.id);
out:
	wipe_password(body);
	cJSON_Delete(body);
	return status;
}

static int set_disabled(http_req_t *req, int disabled)
{
	portal_user_t u;
	reg_t *db;
	char err[256];
	int rc, status;

	status = named_user(&u, req, &db);
	if (status != 0)
		return status;
	if (disabled && req->via_session &&
	    strcmp(req->principal.name + strlen("portal:"), u.name) == 0)
		return http_reply_problem(req, 409, PT_BAD_STATE,
		    "Cannot disable yourself",
		    "another administrator has to do this");
	rc = portal_user_set_disabled(db, u.id, disabled, reg_now(), err,
	    sizeof(err));
	if (rc != PORTAL_OK)
		return reply_store_error(req, rc, err);
	audit(req, disabled ? "user.disable" : "user.enable", u.name, NULL);
	return reply_user(req, db, u.id);
}

int route_portal_user_disable(http_req_t *req)
{
	return set_disabled(req, 1);
}

int route_portal_user_enable(http_req_t *req)
{
	return set_disabled(req, 0);
}
