package testutil

import "net"

// FreePorts returns n loopback ports nobody listened on a moment ago. The
// listeners stay open until all n are picked, so the kernel cannot hand
// out the same port twice.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
