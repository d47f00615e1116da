#!/usr/bin/env python3
"""Interop check: python-qpid-proton (an independent AMQP 1.0 peer) against `sigharness serve broker`.

usage: amqp_proton_interop.py URL [CA CERT KEY]

Opens, on one connection, a receiver and a sender on the same queue (proton names both links
`<container>-<address>`), plus an anonymous (null-target) sender that addresses by `to`, the way
the deployed messaging-signer client does; sends two messages (one per sender) and checks that
both come back with their body and application properties. With CA/CERT/KEY the connection is
TLS with a client certificate and SASL EXTERNAL. Exit 0 = ok; exit 1 = mismatch or error;
bounded by a 15 s timer inside proton's reactor.
"""
import sys
import uuid

from proton import Message, SSLDomain
from proton.handlers import MessagingHandler
from proton.reactor import Container


class Check(MessagingHandler):
    def __init__(self, url, ca=None, cert=None, key=None):
        super().__init__()
        self.url, self.ca, self.cert, self.key = url, ca, cert, key
        self.address = "queue://interop." + uuid.uuid4().hex[:8]
        self.expected = {"linked-sender": "hello over a target link", "anonymous": "hello by properties.to"}
        self.got = {}
        self.error = None
        self.sent = False

    def on_start(self, event):
        kw = {}
        if self.ca:
            dom = SSLDomain(SSLDomain.MODE_CLIENT)
            dom.set_trusted_ca_db(self.ca)
            dom.set_peer_authentication(SSLDomain.VERIFY_PEER)
            dom.set_credentials(self.cert, self.key, None)
            kw = {"ssl_domain": dom, "allowed_mechs": "EXTERNAL"}
        else:
            kw = {"allowed_mechs": "ANONYMOUS"}
        self.timer = event.container.schedule(15, self)
        conn = event.container.connect(self.url, **kw)
        event.container.create_receiver(conn, self.address)
        self.linked = event.container.create_sender(conn, self.address)
        self.anon = event.container.create_sender(conn, None)

    def on_timer_task(self, event):
        self.error = "timed out after 15 s; received %r" % (self.got,)
        event.container.stop()

    def on_link_opened(self, event):
        if event.receiver and not self.sent:
            pass

    def on_sendable(self, event):
        if self.sent or not (self.linked.credit and self.anon.credit):
            return
        self.sent = True
        self.linked.send(Message(body=self.expected["linked-sender"], properties={"via": "linked-sender"}))
        self.anon.send(Message(address=self.address, body=self.expected["anonymous"], properties={"via": "anonymous"}))

    def on_message(self, event):
        via = (event.message.properties or {}).get("via")
        self.got[via] = event.message.body
        if self.got == self.expected:
            self.timer.cancel()
            event.connection.close()

    def on_transport_error(self, event):
        c = event.transport.condition
        self.error = "transport error: %s" % (c.description if c else "unknown",)
        self.timer.cancel()
        event.connection.close()


def main():
    if len(sys.argv) not in (2, 5):
        print(__doc__)
        return 2
    h = Check(*sys.argv[1:])
    Container(h).run()
    if h.error or h.got != h.expected:
        print("proton interop FAILED on %s: %s (got %r)" % (sys.argv[1], h.error, h.got))
        return 1
    print("proton interop ok on %s: %d messages round-tripped" % (sys.argv[1], len(h.got)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
