"""Data-subject requests: recorded and fulfilled (``service``), the access package built for an access request
(``packages``) and downloaded (``downloads``), erasure by crypto-shredding and the end of a restriction
(``erasure``)."""
