"""`python -m recon3r` runs the same CLI as the `recon3r` console command."""

from recon3r.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
