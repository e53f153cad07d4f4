// Test kit: the fake trainer (a shell script), the manual clock, and simulated workers for the coordinator benchmark.
