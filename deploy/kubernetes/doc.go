// Package kubernetes holds the Kubernetes deployment of Truce: base/ is a
// kustomize base (the attestation service as a Deployment on PostgreSQL,
// hosts as DaemonSets on enclave-capable nodes, Services, NetworkPolicies,
// PodDisruptionBudgets). Its test decodes every manifest strictly into the
// official API types (k8s.io/api), so a misspelt field fails CI.
//
// It holds no code, and nothing must import it: the Kubernetes API types
// are a test dependency of this package only, to keep their compile time
// out of every other package's tests.
package kubernetes
