// Compiled by layering_test only: a catalog file reaching into the engine's
// private headers must not build (CMakeLists.txt, vmstore_module).
#include "engine/pool_impl.h"
