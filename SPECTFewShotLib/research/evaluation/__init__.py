"""Measuring classification: Dice on the unpainted slices for ProtoNet and the baselines on the same paint."""
