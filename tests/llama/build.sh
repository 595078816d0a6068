#!/usr/bin/env bash
# Builds llama.cpp's llama-server from the sources inside the llama-cpp-python sdist (PyPI)
# and caches the binary, so only the first run on a machine builds (~6 minutes on 2 cores).
# Prints the binary's path. Usage: bash tests/llama/build.sh [pip]
set -euo pipefail
version="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
pip="${1:-pip}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/threadbridge/llama-server-$version"
bin="$cache/bin/llama-server"
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
for tool in cmake c++ make; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool is missing" >&2; exit 3; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$pip" download -q --no-deps --no-binary :all: "llama-cpp-python==$version" -d "$work" >&2
tar -xzf "$work"/llama_cpp_python-"$version".tar.gz -C "$work"
src="$work/llama_cpp_python-$version/vendor/llama.cpp"
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
  -DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=OFF >&2
cmake --build "$work/build" --target llama-server -j "$(nproc)" >&2
mkdir -p "$cache/bin.tmp"
cp "$work/build/bin/llama-server" "$cache/bin.tmp/"
rm -rf "$cache/bin"
mv "$cache/bin.tmp" "$cache/bin"
echo "$bin"
