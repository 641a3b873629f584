package daemon

import (
	"encoding/base64"
	"testing"

	"github.com/berth-dev/berth/errdefs"
)

func TestDecodeRegistryAuth(t *testing.T) {
	js := `{"username":"u","password":"p?>","serveraddress":"r:5000"}`
	for _, h := range []string{base64.URLEncoding.EncodeToString([]byte(js)), base64.RawURLEncoding.EncodeToString([]byte(js))} {
		ac, err := DecodeRegistryAuth(h)
		if err != nil || ac.Username != "u" || ac.Password != "p?>" || ac.ServerAddress != "r:5000" {
			t.Errorf("%s: %+v %v", h, ac, err)
		}
	}
	if ac, err := DecodeRegistryAuth(""); ac != nil || err != nil {
		t.Errorf("empty header: %+v %v", ac, err)
	}
	if _, err := DecodeRegistryAuth("!!"); !errdefs.IsInvalidParameter(err) {
		t.Errorf("bad header: %v", err)
	}
}
