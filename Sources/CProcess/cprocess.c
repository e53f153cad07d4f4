// CProcess has only static inline functions (include/cprocess.h); SwiftPM needs one C source file.
#include "cprocess.h"
