// Build mode of keel's Bochs instrumentation module. tools/bochs3.sh --profile rewrites this file in
// its copy of the module; the trace build uses it as it is.
#define KEEL_PROFILE 0
