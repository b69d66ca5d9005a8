from twisted.application.service import ServiceMaker

socketnet = ServiceMaker(
    "socketnet",
    "socketnet.tap",
    "A socketnet real-time messaging server over WebSockets.",
    "socketnet",
)
