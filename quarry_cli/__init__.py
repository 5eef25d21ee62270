"""`quarry`, the command line client of the Quarry API.

It uses only what any client of a deployment can reach: GET /auth/config and Cognito's InitiateAuth to
sign in, POST /uploads and the pre-signed form to upload, /documents and /search. Never deployed:
`chalice package` takes only app.py and chalicelib/.
"""
