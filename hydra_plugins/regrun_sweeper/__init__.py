"""regrun's Hydra sweeper plugin. Hydra only instantiates plugin classes that live under the `hydra_plugins`
namespace package, so this thin class lives here and the sweep logic lives in regrun/sweep.py."""
