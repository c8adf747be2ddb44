"""Built-in problems; importing a module registers it. The registry (regrun/registry.py) imports the one a run
names, or all of them when it needs the list."""
MODULES = ("crab_detection", "ct_fewview", "motif_pose", "multiscale_affine", "spike_pair", "superres")
