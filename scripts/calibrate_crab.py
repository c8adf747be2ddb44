"""The detector's threshold calibration as a script of the source tree: the console command `regrun-calibrate`
(regrun/calibrate.py, whose docstring says what it does), kept so that the commands written as
`python scripts/calibrate_crab.py ...` in the docs run the same code."""
from regrun.calibrate import main

if __name__ == "__main__":
    main()
