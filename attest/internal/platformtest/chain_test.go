package platformtest

import "crypto/x509"

func parseChain(der [][]byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, d := range der {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}
