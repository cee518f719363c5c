#!/usr/bin/env bash
# Print the path of a Python X.Y interpreter on this machine (pythonX.Y on PATH, else a pyenv
# installation of it), or nothing: the Makefile falls back to python3 then.
set -u
want=$1
if found=$("python$want" -c 'import sys; print(sys.executable)' 2>/dev/null); then
  echo "$found"
  exit 0
fi
pyenv=$(command -v pyenv) || exit 0
# pyenv's root is where its executable lives, whatever HOME says.
root=${PYENV_ROOT:-$(dirname "$(dirname "$(readlink -f "$pyenv")")")}
for candidate in $(ls -d "$root/versions/$want".* 2>/dev/null | sort -V -r); do
  if [ -x "$candidate/bin/python$want" ]; then
    echo "$candidate/bin/python$want"
    exit 0
  fi
done
