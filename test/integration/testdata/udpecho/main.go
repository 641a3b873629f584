// Command udpecho answers every UDP datagram on the port given as its argument with
// "echo:" and the datagram; the network tests publish it (busybox has no UDP server).
package main

import (
	"net"
	"os"
)

func main() {
	c, err := net.ListenPacket("udp4", ":"+os.Args[1])
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	buf := make([]byte, 2048)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			continue
		}
		c.WriteTo(append([]byte("echo:"), buf[:n]...), from)
	}
}
