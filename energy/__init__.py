"""45 nm operation-energy estimates (analytic and measured) and energy-accuracy trade-off reports."""
