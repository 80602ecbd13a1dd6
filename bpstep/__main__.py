from bpstep.cli import script

script()
