package main

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/truce-project/truce/attest/sim"
	platforms "github.com/truce-project/truce/platform"
)

// howToMeasure says, for each hardware platform, where the measurement a
// policy pins comes from; truce cannot compute these itself.
var howToMeasure = map[string]string{
	"nitro": "pin PCR0 (48 bytes) of the enclave image: \"nitro-cli build-enclave --docker-uri IMAGE --output-file truce.eif\" prints PCR0, PCR1 and PCR2 (pin them as --runtime nitro=PCR0,pcr1=…,pcr2=…); PCR8 is set only for signed images",
	"snp":   "pin the launch MEASUREMENT (48 bytes) of the confidential VM: compute it from the exact OVMF, kernel, initrd and command line with AMD's sev-snp-measure tool (\"sev-snp-measure --mode snp --vcpus N --vcpu-type EPYC-v4 --ovmf OVMF.fd --kernel vmlinuz --initrd initrd.img --append CMDLINE\"), or read it from an attestation report of a VM you launched and trust (\"truce evidence verify --platform snp --vcek VCEK report.bin\" prints it); HOST_DATA, ID_KEY_DIGEST and AUTHOR_KEY_DIGEST are the extra pins host_data, id_key_digest and author_key_digest",
	"tdx":   "pin MRTD (48 bytes) of the trust domain: compute it from the TDVF firmware image (e.g. with tdx-measure from Intel's TDX tools), or read it from a quote of a TD you launched and trust (\"truce evidence verify --platform tdx quote.dat\" prints it); RTMR0–3 (firmware, kernel and command line, and runtime events), MRCONFIGID, MROWNER and MROWNERCONFIG are the extra pins rtmr0…rtmr3, mrconfigid, mrowner and mrownerconfig",
	"sgx":   "pin MRENCLAVE (32 bytes): \"gramine-sgx-sign\" prints it when it signs the manifest (also in the .sig file); pin MRSIGNER as the extra pin mrsigner",
	"cca":   "pin the Realm Initial Measurement (32, 48 or 64 bytes, by hash algorithm): compute it from the realm's images and parameters with the Realm Measurement tool (rim-measure, from Arm's CCA tools), or read it from a CCA token of a realm you launched and trust (\"truce evidence verify --platform cca --key CPAK token.cbor\" prints it); REM0–3 and the realm personalization value are the extra pins rem0…rem3 and rpv",
	"psa":   "pin the software component measurement (32, 48 or 64 bytes) the platform's boot chain records for the runtime image, as the device's PSA attestation token lists it",
}

// measureCommands are the commands of measure.go.
func measureCommands() (cs []*command) {
	cs = append(cs, &command{
		Name:    "measure",
		Args:    "--platform PLATFORM [--file EXECUTABLE]",
		Summary: "print the enclave measurement to pin in a policy",
		Help:    helpText("measure"),
		Flags: func(fs *flag.FlagSet) {
			fs.String("platform", "sim", "`platform`: "+strings.Join(platforms.Names(), ", "))
			fs.String("file", "", "for sim: the truce `executable` to measure (default: this one)")
		},
		Run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			platform := fs.Lookup("platform").Value.String()
			file := fs.Lookup("file").Value.String()
			if _, ok := platforms.Lookup(platform); !ok {
				return usagef("unknown platform %q: use one of %s", platform, strings.Join(platforms.Names(), ", "))
			}
			if platform != "sim" {
				if file != "" {
					return usagef("--file applies to sim only")
				}
				return withHint(fmt.Errorf("truce cannot compute the %s measurement: it covers the whole enclave image, not only truce", platform),
					"%s", howToMeasure[platform])
			}
			var m []byte
			var err error
			if file == "" {
				m, err = sim.MeasureSelf()
			} else {
				m, err = sim.MeasureFile(file)
			}
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return withHint(err, "give the path of a truce executable with --file")
				}
				return err
			}
			fmt.Fprintln(e.Stdout, hex.EncodeToString(m))
			return nil
		},
	})
	return cs
}
