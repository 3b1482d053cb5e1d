# The Easy Mode form inside an assistant (MCP App). Arguments are filled by
# the app's script: { $name } placeholders, plurals take their default.
mcpapp-intro = The assistant filled in these values. Check them, change what you want, then run.
mcpapp-waiting = Waiting for the assistant's values…
mcpapp-run = Run with these values
mcpapp-running = Running…
mcpapp-running-for = Running… { $seconds } s
mcpapp-result = Result
mcpapp-details = Details
mcpapp-field = Field
mcpapp-value = Value
mcpapp-key-needed = Your key is needed
mcpapp-not-bought = Not bought yet
mcpapp-no-credits = Not enough credits
mcpapp-failed = The agent did not finish.
mcpapp-cancelled = The run was cancelled.
mcpapp-fix-fields = Some values need changing. Correct the fields marked above, then run again.
mcpapp-connect = Add your key on VieAgent
mcpapp-connect-why = This agent needs your key for { $providers }. Add it on VieAgent: it goes straight to the encrypted vault, never through this chat. Then run again.
mcpapp-buy = Buy on VieAgent
mcpapp-buy-why = This tool is priced and you have not bought it yet.
mcpapp-top-up = Top up credits
mcpapp-credits-why = You do not have enough credits for this run.
mcpapp-link-not-opened = The assistant did not open the link. Copy it into your browser:
mcpapp-cost = { $credits ->
    [one] { $credits } credit per run
   *[other] { $credits } credits per run
}
mcpapp-priced = Priced tool: bought on VieAgent.
mcpapp-call-failed = The assistant could not run the agent. Try again.
mcpapp-still-running = Still running
mcpapp-still-running-why = The agent goes on working. Its result will be in your history on VieAgent.
mcpapp-open-history = Open my history
