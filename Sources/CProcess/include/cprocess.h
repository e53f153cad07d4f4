#ifndef TRAC_CPROCESS_H
#define TRAC_CPROCESS_H
#include <signal.h>
#include <sys/prctl.h>

// prctl is variadic, which Swift cannot call: this wrapper asks the kernel to send `signal` to the
// calling process when its parent dies, so a worker's training children never outlive it.
static inline int trac_set_parent_death_signal(int signal) { return prctl(PR_SET_PDEATHSIG, signal, 0, 0, 0); }
#endif
