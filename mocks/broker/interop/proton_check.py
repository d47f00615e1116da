"""Proton interop: send and receive through the broker, sender and receiver on one address
(proton names both links <container>-<address> on one session), optionally over TLS with a client cert."""
import sys
from proton import Message, SSLDomain
from proton.handlers import MessagingHandler
from proton.reactor import Container

url = sys.argv[1]
ca, cert, key = (sys.argv[2:5] + [None, None, None])[:3]

class H(MessagingHandler):
    def __init__(self):
        super().__init__()
        self.got = []
    def on_start(self, e):
        ssl = None
        if ca:
            ssl = SSLDomain(SSLDomain.MODE_CLIENT)
            ssl.set_trusted_ca_db(ca)
            ssl.set_peer_authentication(SSLDomain.VERIFY_PEER)
            ssl.set_credentials(cert, key, None)
        conn = e.container.connect(url, ssl_domain=ssl, sasl_enabled=True,
                                   allowed_mechs="EXTERNAL" if ca else "ANONYMOUS")
        self.r = e.container.create_receiver(conn, "queue://interop")
        self.s = e.container.create_sender(conn, "queue://interop")
    def on_sendable(self, e):
        if e.sender == self.s and not getattr(self, "sent", False):
            self.sent = True
            self.s.send(Message(body="from-proton", properties={"k": "v"}))
    def on_message(self, e):
        self.got.append(e.message.body)
        e.connection.close()

h = H()
Container(h).run()
assert h.got == ["from-proton"], h.got
print("proton interop ok:", h.got)
