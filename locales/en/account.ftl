# The account pages (API keys, connecting an assistant) — English.
nav-api-keys = API keys
nav-assistants = Connect your assistant

## API keys (/app/api-keys)
apikeys-title = API keys
apikeys-intro = An API key lets an assistant that cannot sign in (Claude Code, Cursor, VS Code, Claude Desktop) use your tools for you. Treat each key like a password: keep it private, and revoke a key you no longer use.
apikeys-setup-link = How to connect your assistant
apikeys-list = Your keys
apikeys-empty = You have no API keys yet.
apikeys-name = Name
apikeys-prefix = Starts with
apikeys-created = Created
apikeys-last-used = Last used
apikeys-never = Never
apikeys-actions = Actions
apikeys-revoke = Revoke
apikeys-revoke-label = Revoke the key { $name } ({ $value }…)
apikeys-revoked-list = { $n ->
    [one] One revoked key
   *[other] { $n } revoked keys
}
apikeys-revoked-at = Revoked
apikeys-new-title = Create a key
apikeys-name-help = So you can tell your keys apart, for example “Cursor on my laptop”.
apikeys-create = Create key
apikeys-limit = You have { $max } keys, the most you can have at once. Revoke one you no longer use to create another.
apikeys-error-name-empty = Enter a name for the key
apikeys-error-name-long = Enter a name of at most { $max } characters, on one line
apikeys-resent = That form had already been sent, and its key was created: it is in the list. A key is shown only once; if you did not copy it, revoke it and create another.
apikeys-created-title = Your new API key
apikeys-created-text = Copy the key now: this is the only time it is shown, and nobody can show it to you again. Keep it somewhere safe, such as a password manager.
apikeys-created-name = Key “{ $name }”
apikeys-created-next = Next, paste it into your assistant.
apikeys-done = I have copied it
apikeys-copy = Copy
apikeys-copied = Copied
apikeys-copy-label = Copy the key { $name }
apikeys-revoked = The key “{ $name }” ({ $value }…) is revoked: it no longer works.
apikeys-confirm-title = Revoke this key?
apikeys-confirm-text = Revoke the key “{ $name }” ({ $value }…)? Assistants that use it stop working at once. This cannot be undone.
apikeys-confirm-yes = Revoke key

## Connect your assistant (/app/assistants)
assistants-title = Connect your assistant
assistants-intro = Use your tools from an AI assistant: each setup below is ready to paste.
assistants-address = Your MCP address
assistants-with-key = Assistants that use an API key
assistants-with-key-text = Replace { $value } with one of your API keys.
assistants-keys-link = Create an API key
assistants-key-placeholder = <your API key>
assistants-claude-code-how = Run this in a terminal:
assistants-cursor-how = Put this in .cursor/mcp.json in your project (or in ~/.cursor/mcp.json for all your projects):
assistants-vscode-how = Put this in .vscode/mcp.json in your project:
assistants-claude-desktop-how = When VieAgent is installed on this computer, Claude Desktop can start it itself (vieagent stdio). In Claude Desktop, open Settings → Developer → Edit Config and put this in claude_desktop_config.json, with the paths of your installation:
assistants-copy-label = Copy: { $name }
assistants-oauth = Claude.ai and ChatGPT
assistants-oauth-text = These assistants do not take an API key: you sign in with your account instead. Add a custom connector with this address, then sign in when they ask.
assistants-oauth-claude = Claude.ai: Settings → Connectors → Add custom connector.
assistants-oauth-chatgpt = ChatGPT: Settings → Apps & Connectors → Create (developer mode).
assistants-oauth-off = This gateway does not offer sign-in for Claude.ai and ChatGPT yet. Use one of the assistants above, with an API key.
