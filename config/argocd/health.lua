-- Argo CD health check for segmentation.tierguard.io/SegmentationProfile.
--   Healthy:     Ready True, and status.observedGeneration (and Ready's) current.
--   Progressing: no status yet, a generation newer than the one observed,
--                Reconciling True, or Ready not yet decided.
--   Degraded:    Stalled True (conflicts need a person), or Ready False with
--                reason ApplyFailed (writes fail; Tierguard retries) or Conflict.
-- Only the base library is used: Argo CD runs custom health checks without
-- the string library unless useOpenLibs is set.
local hs = {}

local function condition(conditions, ctype)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

local function isTrue(c)
  return c ~= nil and c.status == "True"
end

local function describe(c)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return c.type .. " is " .. tostring(c.status) .. " (" .. tostring(c.reason) .. ")"
end

if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for Tierguard to report status"
  return hs
end

local generation = 0
if obj.metadata ~= nil and obj.metadata.generation ~= nil then
  generation = obj.metadata.generation
end
local observed = obj.status.observedGeneration or 0
if observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for Tierguard to observe generation " .. tostring(generation) ..
    " (status describes generation " .. tostring(observed) .. ")"
  return hs
end

local conditions = obj.status.conditions
local ready = condition(conditions, "Ready")
local reconciling = condition(conditions, "Reconciling")
local stalled = condition(conditions, "Stalled")

if isTrue(stalled) then
  hs.status = "Degraded"
  hs.message = "Stalled: " .. describe(stalled)
  return hs
end

if ready ~= nil and ready.status == "False" and (ready.reason == "ApplyFailed" or ready.reason == "Conflict") then
  hs.status = "Degraded"
  hs.message = ready.reason .. ": " .. describe(ready)
  if isTrue(reconciling) then
    hs.message = hs.message .. " (retrying)"
  end
  return hs
end

if isTrue(reconciling) then
  hs.status = "Progressing"
  hs.message = "Reconciling: " .. describe(reconciling)
  return hs
end

if isTrue(ready) and (ready.observedGeneration == nil or ready.observedGeneration >= generation) then
  hs.status = "Healthy"
  hs.message = describe(ready)
  local isolation = condition(conditions, "IsolationVerified")
  if isolation ~= nil and isolation.status == "False" then
    hs.message = hs.message .. "; isolation not verified: " .. describe(isolation)
  end
  return hs
end

hs.status = "Progressing"
if ready ~= nil then
  hs.message = "Waiting for Ready: " .. describe(ready)
else
  hs.message = "Waiting for the Ready condition"
end
return hs
