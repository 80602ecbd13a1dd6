from bpstep.cli import main

raise SystemExit(main())
