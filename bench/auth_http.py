#!/usr/bin/python3
"""The auth_http server nginx's mail proxy needs: it says yes to every login and names the
backend. (nginx asks over HTTP who the user is and where to send them; see nginx's
ngx_mail_auth_http_module documentation.)

  auth_http.py LISTEN_PORT BACKEND_HOST BACKEND_PORT

Runs until killed (SIGTERM) by whoever started it.
"""

import http.server
import sys


def main():
    listen_port, backend_host, backend_port = int(sys.argv[1]), sys.argv[2], sys.argv[3]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self):  # noqa: N802 - the name http.server calls
            self.send_response(200)
            self.send_header("Auth-Status", "OK")
            self.send_header("Auth-Server", backend_host)
            self.send_header("Auth-Port", backend_port)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024  # the listen() backlog: nginx opens one connection per login

    server = Server(("127.0.0.1", listen_port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
