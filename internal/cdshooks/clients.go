package cdshooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Client is one CDS client (an EHR) allowed to call the services: the
// issuer of its JWTs, where its signing keys are published, and the FHIR
// servers the service may fetch from on its behalf.
type Client struct {
	Issuer      string   `json:"iss"`
	JWKSURL     string   `json:"jwks_url"`
	FHIRServers []string `json:"fhir_servers"`
}

// ParseClients reads CDS_HOOKS_CLIENTS: a JSON list of clients, strictly
// (unknown fields refused), each issuer once, every URL absolute, without
// credentials, query or fragment, and https unless allowHTTP. An empty
// string means no clients (the routes then take the API's own keys).
func ParseClients(s string, allowHTTP bool) ([]Client, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var clients []Client
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&clients); err != nil || dec.More() {
		// The decoder's text may echo the value: not passed on.
		return nil, errors.New(`must be a JSON list like [{"iss":"https://ehr.example.org","jwks_url":"https://ehr.example.org/jwks.json","fhir_servers":["https://ehr.example.org/fhir"]}]`)
	}
	if len(clients) == 0 {
		return nil, errors.New("must list at least one client (or be unset)")
	}
	var errs []error
	seen := map[string]bool{}
	for i, c := range clients {
		switch {
		case c.Issuer == "":
			errs = append(errs, fmt.Errorf("client %d: iss is required", i))
		case seen[c.Issuer]:
			errs = append(errs, fmt.Errorf("client %d: iss is listed twice", i))
		}
		seen[c.Issuer] = true
		if _, err := CheckURL(c.JWKSURL, allowHTTP); err != nil {
			errs = append(errs, fmt.Errorf("client %d: jwks_url %w", i, err))
		}
		for j, s := range c.FHIRServers {
			u, err := CheckURL(s, allowHTTP)
			if err != nil {
				errs = append(errs, fmt.Errorf("client %d: fhir_servers[%d] %w", i, j, err))
				continue
			}
			clients[i].FHIRServers[j] = u
		}
	}
	return clients, errors.Join(errs...)
}

// CheckURL returns s without a trailing slash when it is an absolute
// http(s) URL fit to call or to name in aud: https (or http when allowed),
// a host, no user information, query or fragment. It checks the JWKS and
// FHIR server URLs of the clients, the fhirServer of a call, and
// CDS_HOOKS_BASE_URL.
func CheckURL(s string, allowHTTP bool) (string, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", errors.New("must be an absolute URL without credentials, query or fragment")
	case u.Scheme != "https" && !(allowHTTP && u.Scheme == "http"):
		return "", errors.New("must use https (http only with CDS_HOOKS_ALLOW_HTTP=true)")
	}
	return strings.TrimSuffix(s, "/"), nil
}

// allowsServer reports whether the client's FHIR servers include server
// (compared without a trailing slash).
func (c *Client) allowsServer(server string) bool {
	server = strings.TrimSuffix(server, "/")
	for _, s := range c.FHIRServers {
		if s == server {
			return true
		}
	}
	return false
}
