/*
 * qcow_seek: lseek with SEEK_DATA / SEEK_HOLE for Node, which has no binding for them.
 *
 * seekData(fd, offset) and seekHole(fd, offset) return the offset found (a number >= 0), the
 * string "none" when lseek fails with ENXIO (no data, or no hole, at or after offset), or
 * -errno (a negative number) for any other failure; arguments that are not whole numbers from 0
 * (the offset up to 2^53) give -EINVAL. They never throw:
 * the TypeScript wrapper turns every outcome into a value.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>
#include <node_api.h>

/* Largest offset taken: 2^53, past which a JavaScript number no longer holds every integer. */
#define MAX_OFFSET 9007199254740992.0

/* Reads argument `value` as a whole number in [0, max]; 0 if it is not one. */
static int whole_number(napi_env env, napi_value value, double max, double *out)
{
    return napi_get_value_double(env, value, out) == napi_ok && *out >= 0 && *out <= max && *out == (double)(int64_t)*out;
}

/* Runs lseek(fd, offset, whence); the result as described above, or NULL if N-API itself failed. */
static napi_value seek(napi_env env, napi_callback_info info, int whence)
{
    size_t argc = 2;
    napi_value argv[2];
    napi_value result = NULL;
    double fd = -1;
    double offset = -1;
    int64_t found = -EINVAL;

    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
        return NULL;
    if (argc >= 2 && whole_number(env, argv[0], (double)INT_MAX, &fd) && whole_number(env, argv[1], MAX_OFFSET, &offset)) {
        off_t at = lseek((int)fd, (off_t)offset, whence);
        if (at >= 0)
            found = (int64_t)at;
        else if (errno == ENXIO)
            return napi_create_string_utf8(env, "none", NAPI_AUTO_LENGTH, &result) == napi_ok ? result : NULL;
        else
            found = -(int64_t)errno;
    }
    return napi_create_int64(env, found, &result) == napi_ok ? result : NULL;
}

#if defined(SEEK_DATA) && defined(SEEK_HOLE)
static napi_value seek_data(napi_env env, napi_callback_info info) { return seek(env, info, SEEK_DATA); }
static napi_value seek_hole(napi_env env, napi_callback_info info) { return seek(env, info, SEEK_HOLE); }
#else
/* A system without SEEK_DATA/SEEK_HOLE: every call reports ENOTSUP, so callers treat the file as all data. */
static napi_value unsupported(napi_env env, napi_callback_info info)
{
    napi_value result = NULL;
    (void)info;
    return napi_create_int64(env, -ENOTSUP, &result) == napi_ok ? result : NULL;
}
#define seek_data unsupported
#define seek_hole unsupported
#endif

static napi_value init(napi_env env, napi_value exports)
{
    napi_property_descriptor properties[] = {
        {"seekData", NULL, seek_data, NULL, NULL, NULL, napi_enumerable, NULL},
        {"seekHole", NULL, seek_hole, NULL, NULL, NULL, napi_enumerable, NULL},
    };
    if (napi_define_properties(env, exports, 2, properties) != napi_ok)
        return NULL;
    return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
