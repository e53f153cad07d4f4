#ifndef TRAC_CZMQ_SHIM_H
#define TRAC_CZMQ_SHIM_H
#include <zmq.h>
#endif
