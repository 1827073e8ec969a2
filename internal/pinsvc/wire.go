package pinsvc

import "time"

// The JSON shapes of the IPFS Pinning Service API v1.0.0
// (ipfs/pinning-services-api-spec, ipfs-pinning-service.yaml), and of the
// records the API keeps in the replicated state. Only this file knows
// them: the domain types carry no tags.

// wirePin is the spec's Pin: what a client asks to pin.
type wirePin struct {
	Cid     string            `json:"cid"`
	Name    string            `json:"name,omitempty"`
	Origins []string          `json:"origins,omitempty"`
	Meta    map[string]string `json:"meta,omitempty"`
}

// wirePinStatus is the spec's PinStatus: a request with its status.
type wirePinStatus struct {
	RequestID string            `json:"requestid"`
	Status    string            `json:"status"`
	Created   time.Time         `json:"created"`
	Pin       wirePin           `json:"pin"`
	Delegates []string          `json:"delegates"`
	Info      map[string]string `json:"info,omitempty"`
}

// wirePinResults is the spec's PinResults: one page of a listing.
type wirePinResults struct {
	Count   int             `json:"count"`
	Results []wirePinStatus `json:"results"`
}

// wireFailure is the spec's Failure: every error body.
type wireFailure struct {
	Error wireFailureError `json:"error"`
}

type wireFailureError struct {
	Reason  string `json:"reason"`
	Details string `json:"details,omitempty"`
}

// storedRequest is a request as kept in its record (psa/req/…); its ID,
// and so its creation time, is in the key.
type storedRequest struct {
	Owner   string            `json:"owner"`
	Cid     string            `json:"cid"`
	Name    string            `json:"name,omitempty"`
	Origins []string          `json:"origins,omitempty"`
	Meta    map[string]string `json:"meta,omitempty"`
}

// storedRef is the value of a reference of a request to its CID
// (psa/cid/…): what it takes to pin the CID again for that request.
type storedRef struct {
	Name    string   `json:"name,omitempty"`
	Origins []string `json:"origins,omitempty"`
}
