#!/bin/sh
# Builds the Truce enclave image (EIF) for AWS Nitro Enclaves and prints its
# PCR0, PCR1 and PCR2, ready for `truce policy new --runtime nitro=…`.
# Run on a Nitro-enabled EC2 parent instance with docker and nitro-cli.
#
#   attest/nitro/deploy/build-eif.sh truce.eif
set -eu
out=${1:?usage: build-eif.sh OUT.eif}
root=$(cd "$(dirname "$0")/../../.." && pwd)
tag=truce-enclave:$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo dev)
docker build -f "$root/attest/nitro/deploy/Dockerfile" -t "$tag" "$root"
nitro-cli build-enclave --docker-uri "$tag" --output-file "$out" > "$out.measurements.json"
# nitro-cli prints {"Measurements": {"HashAlgorithm": …, "PCR0": …, "PCR1": …, "PCR2": …}}
pcr() { sed -n "s/.*\"$1\": *\"\([0-9a-f]*\)\".*/\1/p" "$out.measurements.json" | head -n1; }
echo "PCR0=$(pcr PCR0)"
echo "PCR1=$(pcr PCR1)"
echo "PCR2=$(pcr PCR2)"
echo "policy runtime: --runtime nitro=$(pcr PCR0),pcr1=$(pcr PCR1),pcr2=$(pcr PCR2)"
