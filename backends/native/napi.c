/*
 * The Node-API entry points that end every generated program's translation
 * unit (after the prelude and the kernels, which define tcc_rt, tcc_calls,
 * TCC_CALLS, tcc_draw, tcc_updates, tcc_owner and tcc_generation): `run(persistent,
 * arena, seed, step, sizes?)` runs every kernel and the updates, `profile(...)` runs
 * them one by one and returns each one's milliseconds, `threads(n)` sets the
 * thread count (0: the machine's cores), `touch()` says that parameters were
 * written (packed copies of them are stale).
 */

#include <node_api.h>

static int tcc_args(napi_env env, napi_callback_info info, char **p, char **a, tcc_rt *rt) {
  size_t argc = 5;
  napi_value argv[5];
  size_t bytes;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) return 0;
  if (napi_get_arraybuffer_info(env, argv[0], (void **)p, &bytes) != napi_ok) return 0;
  if (napi_get_arraybuffer_info(env, argv[1], (void **)a, &bytes) != napi_ok) return 0;
  if (napi_get_value_uint32(env, argv[2], &rt->seed) != napi_ok) return 0;
  if (napi_get_value_uint32(env, argv[3], &rt->step) != napi_ok) return 0;
  memset(rt->sizes, 0, sizeof(rt->sizes));
  if (argc >= 5) {
    // The run's sizes: an Int32Array of at most TCC_SIZES (checked against the program's maxima by the runtime).
    napi_typedarray_type type;
    size_t length;
    void *data;
    if (napi_get_typedarray_info(env, argv[4], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_int32_array || length > TCC_SIZES) return 0;
    memcpy(rt->sizes, data, sizeof(int32_t) * length);
  }
  return 1;
}

static napi_value tcc_js_run(napi_env env, napi_callback_info info) {
  char *p, *a;
  tcc_rt rt;
  if (!tcc_args(env, info, &p, &a, &rt)) { napi_throw_type_error(env, NULL, "run(persistent, arena, seed, step, sizes?)"); return NULL; }
  tcc_owner = p;
  tcc_draw(&rt);
  for (int i = 0; i < TCC_CALLS; i++) tcc_calls[i](p, a, &rt);
  tcc_updates(p, a);
  return NULL;
}

static napi_value tcc_js_profile(napi_env env, napi_callback_info info) {
  char *p, *a;
  tcc_rt rt;
  if (!tcc_args(env, info, &p, &a, &rt)) { napi_throw_type_error(env, NULL, "profile(persistent, arena, seed, step, sizes?)"); return NULL; }
  napi_value out, buffer;
  double *ms;
  napi_create_arraybuffer(env, sizeof(double) * (TCC_CALLS > 0 ? TCC_CALLS : 1), (void **)&ms, &buffer);
  tcc_owner = p;
  tcc_draw(&rt);  // not a kernel: the step's time includes it, the kernels' do not
  for (int i = 0; i < TCC_CALLS; i++) {
    double start = tcc_now_ms();
    tcc_calls[i](p, a, &rt);
    ms[i] = tcc_now_ms() - start;
  }
  tcc_updates(p, a);
  napi_create_typedarray(env, napi_float64_array, TCC_CALLS, buffer, 0, &out);
  return out;
}

static napi_value tcc_js_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  int32_t n = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc >= 1) napi_get_value_int32(env, argv[0], &n);
  if (n > 0) omp_set_num_threads(n);
  napi_create_int32(env, omp_get_max_threads(), &out);
  return out;
}

static napi_value tcc_js_touch(napi_env env, napi_callback_info info) {
  (void)env; (void)info;
  tcc_generation++;
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "run", NAPI_AUTO_LENGTH, tcc_js_run, NULL, &fn);
  napi_set_named_property(env, exports, "run", fn);
  napi_create_function(env, "profile", NAPI_AUTO_LENGTH, tcc_js_profile, NULL, &fn);
  napi_set_named_property(env, exports, "profile", fn);
  napi_create_function(env, "threads", NAPI_AUTO_LENGTH, tcc_js_threads, NULL, &fn);
  napi_set_named_property(env, exports, "threads", fn);
  napi_create_function(env, "touch", NAPI_AUTO_LENGTH, tcc_js_touch, NULL, &fn);
  napi_set_named_property(env, exports, "touch", fn);
  return exports;
}
