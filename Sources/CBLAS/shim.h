#ifndef TRAC_CBLAS_SHIM_H
#define TRAC_CBLAS_SHIM_H
#include <cblas.h>
#endif
