"""The bare baseline app of the benchmarks (served by ``chalice local`` or called as a Lambda handler)."""
