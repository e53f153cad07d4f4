// Test kit: fake trainer, manual clock, in-process transport.
