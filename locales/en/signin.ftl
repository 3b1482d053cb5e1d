# Signing in with the marketplace account — English.
login-what = VieAgent runs the AI agents you buy on VieAgent.vn: from these pages, and inside your assistant (Claude, ChatGPT, VS Code, Cursor).
signin-with-marketplace = Sign in with your VieAgent.vn account
signin-marketplace-help = You go to VieAgent.vn to sign in, then come back here.
login-with-key = Or sign in with an API key
signin-error-title = You are not signed in
signin-try-again = Try again
signin-error-unavailable = VieAgent.vn's sign-in cannot be reached right now. Try again in a moment.
signin-error-expired = This sign-in took too long or was started in another browser. Start again.
signin-error-state = This sign-in could not be checked, so it was refused. Start again from this site.
signin-error-cancelled = The sign-in at VieAgent.vn was cancelled or refused.
signin-error-account = Your VieAgent.vn account cannot be used here yet (it may need a verified email address, or it is disabled). Contact VieAgent support.
signup-new = New here?
signup-link = Create a VieAgent.vn account
buy = Buy
buy-for = Buy — { $price }
top-up = Top up credits
ledger-marketplace-purchase = Bought on VieAgent.vn ({ $reference })
