package shimproto

import (
	"errors"
	"io"
	"strconv"
	"time"
)

// The shim protocol: a client opens one connection to the shim's unix socket per
// request and writes one JSON Request line; the shim answers one JSON Response
// line. After an attach response both sides exchange frames: one byte stream id,
// a 4-byte big-endian payload length, the payload. The client sends StreamStdin
// frames (an empty one is stdin EOF); the shim sends StreamStdout and
// StreamStderr frames (only StreamStdout with a tty) and, once the output has
// ended, a StreamExit frame whose payload is the ExitStatus as JSON.
// OpExecAttach does the same for the exec process ExecID.
const (
	StreamStdin  byte = 0
	StreamStdout byte = 1
	StreamStderr byte = 2
	StreamExit   byte = 3
)

// Shim operations.
const (
	OpStart    = "start"    // run the container; Response.Pid
	OpAttach   = "attach"   // Stdin/Stdout/Stderr select streams, then frames
	OpWait     = "wait"     // blocks until exit; Response.Exit
	OpKill     = "kill"     // Signal to the init process, or to all with All
	OpResize   = "resize"   // Width, Height of the tty
	OpState    = "state"    // Response.Pid, Response.Status
	OpShutdown = "shutdown" // kill the container if running, finish, make the shim exit

	// Exec operations address the process ExecID; older shims answer them
	// with CodeInvalid ("unknown shim operation").
	OpExec       = "exec"        // register ExecID: Process (runtime-spec process JSON), Tty, Stdin
	OpExecStart  = "exec-start"  // start ExecID; Response.Pid
	OpExecAttach = "exec-attach" // as OpAttach, for ExecID
	OpExecWait   = "exec-wait"   // blocks until ExecID exits; Response.Exit
	OpExecKill   = "exec-kill"   // Signal to ExecID
	OpExecResize = "exec-resize" // Width, Height of ExecID's tty
	OpExecState  = "exec-state"  // Response.Pid, Status, Exit of ExecID
)

// Container states reported by OpState.
const (
	StatusCreated = "created"
	StatusRunning = "running"
	StatusStopped = "stopped"
)

// Error classes carried in Response.Code.
const (
	CodeConflict = "conflict"
	CodeInvalid  = "invalid"
	CodeNotFound = "notfound"
)

// Request is the JSON line a client sends first on a shim connection.
type Request struct {
	Op     string `json:"op"`
	Stdin  bool   `json:"stdin,omitempty"`
	Stdout bool   `json:"stdout,omitempty"`
	Stderr bool   `json:"stderr,omitempty"`
	Signal int    `json:"signal,omitempty"`
	All    bool   `json:"all,omitempty"`
	Width  uint16 `json:"width,omitempty"`
	Height uint16 `json:"height,omitempty"`

	ExecID  string  `json:"exec_id,omitempty"`
	Tty     bool    `json:"tty,omitempty"`
	Process RawJSON `json:"process,omitempty"`
}

// Response is the JSON line a shim answers with.
type Response struct {
	Error  string      `json:"error,omitempty"`
	Code   string      `json:"code,omitempty"` // error class: CodeConflict, CodeInvalid, CodeNotFound
	Pid    int         `json:"pid,omitempty"`
	Status string      `json:"status,omitempty"`
	Exit   *ExitStatus `json:"exit,omitempty"`
}

// ExitStatus is how a container ended; it is also the content of exit.json.
type ExitStatus struct {
	Code      int       `json:"ExitCode"`
	ExitedAt  time.Time `json:"ExitedAt"`
	OOMKilled bool      `json:"OOMKilled"`
	Error     string    `json:"Error"`
}

// Files in a shim's state directory.
const (
	SockFile    = "shim.sock"
	PidFile     = "shim.pid"
	InitPidFile = "init.pid"
	ExitFile    = "exit.json"
	LogFile     = "shim.log"
)

// maxFrame bounds a frame's payload.
const maxFrame = 1 << 20

// AppendFrame appends a frame header and payload to b.
func AppendFrame(b []byte, stream byte, payload []byte) []byte {
	n := uint32(len(payload))
	b = append(b, stream, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	return append(b, payload...)
}

// ReadFrame reads one frame into buf (grown as needed) and returns its stream id
// and payload, which aliases buf.
func ReadFrame(r io.Reader, buf []byte) (stream byte, payload, newBuf []byte, err error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, buf, err
	}
	n := uint32(h[1])<<24 | uint32(h[2])<<16 | uint32(h[3])<<8 | uint32(h[4]) // encoding/binary would bring reflect
	if n > maxFrame {
		return 0, nil, buf, errors.New("shim frame of " + strconv.FormatUint(uint64(n), 10) + " bytes is too large")
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	payload = buf[:n]
	if _, err := io.ReadFull(r, payload); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, buf, err
	}
	return h[0], payload, buf, nil
}
