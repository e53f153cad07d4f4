#ifndef TRAC_CZMQ_SHIM_H
#define TRAC_CZMQ_SHIM_H
#include <malloc.h>
#include <zmq.h>

// glibc serves a large block from its heap once the largest block freed so far was as large (its
// dynamic mmap threshold), and a heap keeps what is freed. Messages queued for peers are large and
// short-lived (4 MiB chunks): with a fixed threshold each is its own mapping, returned to the system
// as soon as libzmq frees it, so a peer that goes leaves no memory behind. mallopt is a macro-driven
// call Swift cannot make directly.
static inline int trac_fix_mmap_threshold(int bytes) { return mallopt(M_MMAP_THRESHOLD, bytes); }
#endif
