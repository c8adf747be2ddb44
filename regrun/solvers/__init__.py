"""Built-in solvers; importing a module registers it. The registry (regrun/registry.py) imports the one a run
names, or all of them when it needs the list (a module may register several names: continuation)."""
MODULES = ("ad_cost", "bilevel", "continuation", "covering_vs_optimization", "fbp", "fista_tv", "grid_search",
           "hierarchical", "joint_gn", "motif_study", "multilevel", "predictor_study", "single_scale", "two_stage",
           "varpro_cg")
