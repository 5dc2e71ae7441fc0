"""Events, subscribers and an effect table used only by the benchmarks."""
